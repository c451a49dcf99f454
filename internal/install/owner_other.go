//go:build !unix

package install

// owner is a no-op where files have no Unix owner.
type owner struct{}

func ownerOf(string) owner       { return owner{} }
func (owner) apply(string) error { return nil }
func chownLikeDir(string) error  { return nil }
