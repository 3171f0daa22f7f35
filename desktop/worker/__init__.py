"""The window's engine process: the messages both sides exchange (protocol), the child's main loop
(host) and the parent's Executor that drives it (client).

The window never imports torch, diffusers or transformers: importing them holds the GIL for
hundreds of milliseconds and stalls the UI, and a hard crash of the engine (a segfault, the OOM
killer) must not take the window down. Only the child process imports them.
"""
