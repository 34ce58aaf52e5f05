//! Byte offsets to line:column positions.

use crate::error::Position;

/// Incremental byte offset to line:column conversion. Offsets are asked for in (almost)
/// increasing order, so each byte is scanned about once; a backwards request restarts.
/// Gives the same answer as [`Position::of_offset`] without its cost per call.
pub(super) struct Positions<'i> {
    text: &'i str,
    offset: usize,
    position: Position,
}

impl<'i> Positions<'i> {
    pub(super) fn new(text: &'i str) -> Self {
        Positions {
            text,
            offset: 0,
            position: Position { line: 1, column: 1 },
        }
    }

    pub(super) fn at(&mut self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            self.offset = 0;
            self.position = Position { line: 1, column: 1 };
        }
        let Some(gap) = self.text.get(self.offset..offset) else {
            return Position::of_offset(self.text, offset);
        };
        // Columns count characters: every byte but UTF-8 continuation bytes starts one.
        for b in gap.bytes() {
            if b == b'\n' {
                self.position.line = self.position.line.saturating_add(1);
                self.position.column = 1;
            } else if b & 0xC0 != 0x80 {
                self.position.column = self.position.column.saturating_add(1);
            }
        }
        self.offset = offset;
        self.position
    }
}
