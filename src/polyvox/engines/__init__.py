"""Speech engines: the protocol they implement and the registry that loads them."""
