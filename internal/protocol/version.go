package protocol

// Version is eidlink's version, written in the host's first message. The
// Makefile sets it with -ldflags "-X ...protocol.Version=X.Y.Z".
var Version = "0.1.0"
