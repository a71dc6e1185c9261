package storage

// SetQueued sets a function called as every transaction of this process
// has passed the turnstile and waits for the store lock (nil: none).
func SetQueued(f func(path string)) { queued = f }
