// Package store keeps each instance's state between runs in a DynamoDB table,
// with optimistic locking so that overlapping runs never both claim a change.
package store
