"""Speech to text: ``POST /api/v1/transcriptions`` (a job of type ``transcription``)."""
