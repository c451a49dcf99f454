//go:build !unix

package virtualcardtest

func lockReaders() error { return nil }
