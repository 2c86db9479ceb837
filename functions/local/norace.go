//go:build !race

package main

// timeoutScale: without the race detector, the template's timeouts as
// they are.
const timeoutScale = 1
