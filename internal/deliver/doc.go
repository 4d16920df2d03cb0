// Package deliver is the outbox protocol that makes every alert reach its
// subscribers once: a run claims an instance's new state and alert with a
// conditional write (so of two overlapping runs only one claims a change),
// takes the instance's outbox under a lease, publishes what it holds (fleet
// messages first, then each instance's own alerts in order), and records
// what was delivered. An alert that may have reached SNS is only ever sent
// again as it is, with its id.
package deliver
