from mlreg.cli.app import main

main()
