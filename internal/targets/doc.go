// Package targets reads the ProGet instances to watch, and their API keys, from
// SSM Parameter Store (one folder per instance under a path prefix) and
// validates them.
package targets
