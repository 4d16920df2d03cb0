package proget

// WithMaxProbeBytes lowers the read bound of probes, so that tests of what
// lies beyond it need not send megabytes.
func WithMaxProbeBytes(n int64) Option { return func(c *Client) { c.maxProbeBytes = n } }
