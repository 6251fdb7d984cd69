"""Built-in video tools: PyAV + OpenCV engines that need no weights and no network."""
