"""The OpenAI-compatible surface: /v1/models, /v1/images/generations, /v1/audio/…"""
