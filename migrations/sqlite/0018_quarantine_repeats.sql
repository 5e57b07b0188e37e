-- A case listed twice with different values in one import (one file, one HTTP run, one SQL
-- batch): the later row is stored, as before, and the repeat is now recorded where `status` reads
-- the quarantine, as an entry of kind 'repeat' (location and row_no: the later row; value: its
-- case number, masked; raw: the earlier row's place and the fields that differ, as JSON). Rows
-- that could not be taken keep kind 'row'. A source's last run counts its repeats.
ALTER TABLE quarantine ADD COLUMN kind TEXT NOT NULL DEFAULT 'row';
ALTER TABLE source_state ADD COLUMN rows_repeated INTEGER NOT NULL DEFAULT 0;
