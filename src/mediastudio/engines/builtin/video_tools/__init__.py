"""Built-in video tools (PyAV + OpenCV, H.264/AAC MP4): one module per tool, each declaring its
model and running it. ``engine.py`` is the ``video-tools`` engine that serves image to video,
subtitles and social variants."""
