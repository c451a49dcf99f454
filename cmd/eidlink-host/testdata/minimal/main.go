// Command minimal is BenchmarkColdStart's baseline: the smallest static Go
// program that does the host's first step, writing the version message
// (its argument) framed as native messaging.
package main

import (
	"encoding/binary"
	"os"
)

func main() {
	msg := []byte(os.Args[1])
	os.Stdout.Write(append(binary.LittleEndian.AppendUint32(nil, uint32(len(msg))), msg...))
	os.Stdin.Read(make([]byte, 1)) // until the browser closes the port, as the host
}
