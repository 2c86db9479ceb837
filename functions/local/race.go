//go:build race

package main

// timeoutScale stretches the functions' timeouts under the race
// detector, which slows code several times over: a timeout then still
// catches a path far slower than AWS allows, without failing a test only
// because the detector is on.
const timeoutScale = 3
