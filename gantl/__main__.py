from gantl.cli import main

main()
