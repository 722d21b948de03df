-- A revocation (realtime.revoke): the module that owns topic ended
-- revoke_user's subscriptions to it, e.g. a member removed from a chat room.
-- It is a row among the topic's events so that every replica applies it in
-- order with them (no event published after it reaches the revoked
-- subscription), and it is never delivered to a client (data is null).
ALTER TABLE websonic.realtime_events ADD COLUMN revoke_user bigint CHECK (revoke_user > 0);
