from liftinfer.cli import main

# Guarded: vLLM's engine processes may start with "spawn", which imports this module again.
if __name__ == "__main__":
    main()
