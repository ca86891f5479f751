"""Neural (torch) engines that load weights the user put on disk: XTTS v2, Pocket TTS, Chatterbox, StyleTTS2.

The shared pieces: :mod:`.weights` (the folder rule and ``needs_weights``), :mod:`.runtime` (hub offline
switches, device choice, seeding), :mod:`.conditioning` (native cloning from the voice library, cached per
reference content) and :mod:`.engine` (the base class). Importing this package imports no torch.
"""
