import SluiceCLI

SluiceMain.main()
