package cie

// ForgetCaches empties the process-wide caches, as in a new process.
func ForgetCaches() {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	clear(domains)
	clear(chipKeys)
}

// APDUs is the count of the token's card.
func (t *Token) APDUs() int { return t.c.APDUs() }
