"""Moving a province's existing mail in (issue 19): ``congthu migrate imap`` copies every
folder, message, flag, keyword and internal date of each user from any IMAP server
through the store's ``append`` (the path of IMAP APPEND), several users at once, and
resumes after an interruption without duplicates (``progress.py`` keeps, per user and
folder, the old UIDVALIDITY and the last old UID copied)."""
