"""Front doors that speak other servers' protocols: Wyoming (Home Assistant) and MaryTTS's HTTP API."""
