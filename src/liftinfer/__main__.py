from liftinfer.cli import main

main()
