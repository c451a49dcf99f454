// Command eidlink is eidlink's command line: authenticate and verify from
// a terminal, status and doctor for diagnosis, and the virtual test card.
// Run "eidlink help" for the commands.
package main

import (
	"os"

	"github.com/eidlink/eidlink/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
