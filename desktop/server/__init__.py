"""The team server: our engine behind the OpenAI Images API, on Ray Serve (the optional `server` extra).

`diffusion-studio serve` (main.py) starts it. The Ray-free parts — configuration, tokens, the fair
queue, the wire format, the HTTP app and the engine worker — import neither Ray nor Qt, so they are
tested and reused without the extra; only deploy.py knows Ray.
"""
