"""Speech in: ASR back ends (entry-point group ``polyvox.asr``) behind one service-owned recognizer."""
