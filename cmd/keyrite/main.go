// Command keyrite creates, rotates and recovers the root keys of Docker
// Content Trust / Notary repositories, offline and on hardware.
package main

import "os"

func main() { os.Exit(Main()) }
