// Package monitor is the domain of the ProGet monitor: targets, observations,
// the state remembered per instance, and the pure decision that turns one
// observation into the next state and the alert to send.
//
// Each component (the instance, database, license, service, replication,
// connector-health, each connector) carries three statuses between runs:
//
//	Observed   the latest reading, with a streak: how many runs in a row read
//	           on the same side (healthy: OK, Unknown; not healthy: anything else)
//	Status     the confirmed status: it crosses sides once the streak reaches
//	           FailureThreshold (to a problem) or RecoveryThreshold (back to
//	           healthy); on its side it follows the latest reading
//	Alerted    what people were last told
//
//	                 reading on the other side
//	                 (streak restarts at 1)
//	   +---------+  ------------------------->  +-----------+
//	   | healthy |                              |  problem  |
//	   |confirmed|  <-------------------------  | confirmed |
//	   +---------+   streak >= threshold         +-----------+
//	        \                                        /
//	         \      Status and Alerted differ       /
//	          '----> in class (OK, warning, -------'
//	                 critical): one alert, then
//	                 Alerted = Status
//
// A first sight that is healthy is recorded silently. While the instance does
// not answer as ProGet, its components keep what they had and only the
// instance is reported. A component that disappears is forgotten quietly
// unless people were told it was bad; then it is reported Removed once.
// During maintenance, Status follows the readings but Alerted does not, so
// when the window ends only what differs from what people heard is alerted.
// Reminders repeat a bad Alerted status at most every ReminderInterval.
package monitor
