"""Front doors that speak other servers' protocols: the Wyoming server (Home Assistant), and the voice
naming it shares with the MaryTTS HTTP routes (polyvox.api.routes.marytts)."""
