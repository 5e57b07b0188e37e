-- The share of a review sample's target that focused picks (重点检查) could take when it was drawn
-- (`[obligations] focus_max_percent`), so that `liandong sample verify` replays a draw with the
-- rule that made it. Draws recorded before this column keep NULL: they were made by the earlier
-- rule (focused files first, as many as the target holds) and replay with it.
ALTER TABLE sample_draws ADD COLUMN focus_max_percent INTEGER;
