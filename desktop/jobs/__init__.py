"""Qt-free jobs: the runner (queue, states, events) and the executors that run a job's request,
in this process (the CLI) or in the engine's worker process (the window)."""
