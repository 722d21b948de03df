// Command tickets is the support desk, a Web Sonic module (issue 12): the
// site's customers open tickets through panels (Question, Problem,
// Billing…), staff claim, answer and solve them, under SLA clocks that
// stop while the desk waits for the customer.
//
// API.md is the contract of its HTTP and realtime API; README.md the guide
// for site owners. The design in short:
//
//   - access.go decides, for every route, topic and export, what a user may
//     do with a ticket: its customers (opener and participants) read the
//     public conversation; its agents (staff who work its panel, and admins)
//     everything. A ticket that is not yours does not exist (404).
//   - Internal notes live in their own table, read only by routes under
//     /tickets/staff: no customer path can show one by forgetting a filter.
//   - lifecycle.go holds the state machine (new, open, pending, on_hold,
//     solved, closed) and the SLA clocks; every change of a ticket runs in a
//     transaction holding the ticket's row.
//   - Realtime events carry ids only; pages fetch what changed through the
//     API, whose checks decide what they may read.
//   - E-mail goes through an outbox written in the same transaction as the
//     change it announces (notify.go), sent through the runtime's mail relay.
package main
