print("hello from a Sluice-published image")
