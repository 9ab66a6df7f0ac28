// Package archtest holds the test that keeps the import rules of
// ARCHITECTURE.md true: which package may import which. It has no code of
// its own.
package archtest
