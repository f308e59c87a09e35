//! Publisher (organisation) names: what a name may contain, and the key under which two names count as the
//! same. Names are shown to people next to verified captures, so a name that looks like another one must not
//! be registered beside it, and a name must not be able to reorder or hide the text around it.

use unicode_normalization::UnicodeNormalization;

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Why a name is refused.
pub fn check_name(name: &str) -> Result<(), String> {
    check_field("name", name)
}

/// [`check_name`]'s rules for any name people read (an organisation, a person, a key), with the message
/// naming `field`.
pub fn check_field(field: &str, name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_NAME_CHARS {
        return Err(format!("{field} must be 1 to {MAX_NAME_CHARS} characters"));
    }
    if let Some(c) = name.chars().find(|&c| forbidden(c)) {
        return Err(format!(
            "{field} must not contain control, bidirectional-override or invisible formatting characters (found U+{:04X})",
            u32::from(c)
        ));
    }
    Ok(())
}

/// Control characters, line and paragraph separators, the bidirectional controls (embeddings, overrides,
/// isolates, marks), and invisible characters that can hide a difference between two names.
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'                    // Arabic letter mark
            | '\u{200B}'                  // zero-width space
            | '\u{200E}' | '\u{200F}'     // left-to-right and right-to-left marks
            | '\u{2028}' | '\u{2029}'     // line and paragraph separators
            | '\u{202A}'..='\u{202E}'     // embeddings and overrides
            | '\u{2060}'..='\u{2064}'     // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}'     // isolates
            | '\u{FEFF}'                  // zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}'     // interlinear annotations
        )
}

/// The key two names are compared under: NFKC (compatibility forms such as full-width letters and ligatures
/// fold to their plain letters), lower case, white space runs as one space, zero-width joiners and soft
/// hyphens dropped, then the UTS #39 confusable skeleton (Cyrillic `а` and Latin `a`, `rn` and `m`, `0` and
/// `O` map to one form). Two names with the same key are look-alikes: the second is refused.
pub fn name_key(name: &str) -> String {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect::<String>().nfkc().collect();
    let mut spaced = String::with_capacity(folded.len());
    for word in folded.split_whitespace() {
        if !spaced.is_empty() {
            spaced.push(' ');
        }
        spaced.extend(word.chars().filter(|c| !matches!(c, '\u{00AD}' | '\u{200C}' | '\u{200D}' | '\u{034F}')));
    }
    unicode_security::confusable_detection::skeleton(&spaced).collect::<String>().nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_share_a_key() {
        let key = name_key("Demo News");
        for alike in [
            "demo news",
            "DEMO NEWS",
            "  Demo   News ",
            "Ｄｅｍｏ Ｎｅｗｓ",
            "D\u{0435}mo News",  // Cyrillic е
            "Dem\u{043E} News",  // Cyrillic о
            "Demo\u{00A0}News",  // no-break space
            "Demo Ne\u{00AD}ws", // soft hyphen
            "Demo Ne\u{200D}ws", // zero-width joiner
            "Dernо News",        // r n for m, Cyrillic о
        ] {
            assert_eq!(name_key(alike), key, "{alike:?}");
        }
        for different in ["Demo Newz", "Demo", "DemoNews2", "Deme News"] {
            assert_ne!(name_key(different), key, "{different:?}");
        }
        assert_eq!(name_key("ﬁne"), name_key("fine"), "ligature");
    }

    #[test]
    fn control_and_bidi_characters_are_refused() {
        assert!(check_name("Demo News").is_ok());
        assert!(check_name("Agence France-Presse (AFP)").is_ok());
        assert!(check_name("روزنامه\u{200C}نگار").is_ok(), "ZWNJ is part of Persian spelling");
        assert!(check_name("報道").is_ok());
        for bad in [
            "Demo\nNews",
            "Demo\u{7}",
            "\u{1b}[31mRed",
            "Demo \u{202E}sweN",
            "\u{2066}Demo\u{2069}",
            "Demo\u{200F}",
            "Demo\u{200B}News",
            "Demo\u{2028}",
            "\u{FEFF}Demo",
            " ",
            "",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_name(&"n".repeat(255)), Ok(()));
        assert_eq!(check_name(&"n".repeat(256)), Err("name must be 1 to 255 characters".into()));
        assert_eq!(
            check_name("Demo \u{202E}sweN"),
            Err("name must not contain control, bidirectional-override or invisible formatting characters (found U+202E)".into())
        );
    }
}
