//go:build !race

package syncer_test

// raceDetector: this build runs without the race detector.
const raceDetector = false
