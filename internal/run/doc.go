// Package run is one scheduled check of a fleet: read the targets, check every
// instance, decide, group, deliver, publish metrics. Data walks one way:
// targets -> observations -> decisions (monitor) -> fleet grouping (group) ->
// claim and delivery (deliver, which renders and publishes) -> metrics.
package run
