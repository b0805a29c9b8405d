//! The texts a peer sends to be shown (a stream's NAME, a REFUSE reason): which characters
//! they may not hold, and how they are cut to their limits on a character boundary.

use std::borrow::Cow;

/// Longest stream name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest REFUSE reason, in bytes of UTF-8: the name's limit, which every program of ours
/// parses REFUSE with, older ones included, so it stays. The reasons we send fit it whole.
pub const MAX_REFUSE_BYTES: usize = MAX_NAME_BYTES;

/// Whether `c` may not be in a NAME or REFUSE text: a control character, or one that prints
/// nothing or reorders what follows (bidirectional controls, zero-width characters and the
/// blank fillers, line and paragraph separators, tags), with which a peer could make its
/// stream look like another's in the viewer's lines, tiles and hub. The zero-width joiners
/// (U+200C, U+200D) are refused too, though some scripts and emoji sequences use them:
/// `front` with one appended looks like `front`.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// Cuts a name to at most [`MAX_NAME_BYTES`] bytes on a character boundary.
pub fn cut_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// A REFUSE reason as sent: whole when it fits [`MAX_REFUSE_BYTES`], else cut on a character
/// boundary and ended with `…`, so that the reader sees it was cut rather than a word that
/// stops short. Our own reasons always fit (see `connection::extended`).
pub fn cut_reason(why: &str) -> Cow<'_, str> {
    if why.len() <= MAX_REFUSE_BYTES {
        return Cow::Borrowed(why);
    }
    const ELLIPSIS: &str = "…";
    let mut end = MAX_REFUSE_BYTES - ELLIPSIS.len();
    while !why.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{ELLIPSIS}", &why[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_people_write_pass_and_hidden_characters_do_not() {
        for name in [
            "x3pi/video0",
            "gripper#2",
            "front:left",
            "caméra-avant",
            "前カメラ",
            "🤖",
        ] {
            assert!(!name.chars().any(is_hidden), "{name}");
        }
        for c in [
            '\n', '\u{200B}', '\u{200D}', '\u{202E}', '\u{2066}', '\u{3164}', '\u{FEFF}',
        ] {
            assert!(is_hidden(c), "{:?}", c);
        }
    }
}
