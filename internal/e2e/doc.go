// Package e2e runs shoal's test suites against peer WebSocket libraries.
// It is a module of its own so that the library's users never inherit
// those peers as dependencies.
package e2e
