// Package sitemove moves a whole site from one runtime to another: `websonic
// site export` on the source, `websonic site import` on the target, and the
// migration portal (admin UI) on both, which calls the same functions.
//
// # The steps
//
//  1. Prepare (target): an age X25519 identity is made in
//     DATA_DIR/import/identity.age (mode 0600, folder 0700); its recipient
//     (age1…) is what the source encrypts to. Preparing again returns the
//     same recipient, until an import switches a site in with it: the
//     identity is then set aside (DATA_DIR/import/used), an archive made
//     for it is refused as imported (ErrImported, a replay of an older
//     state), and the next Prepare makes a new one. The one exception is
//     the target's own backup of the site an import replaced (made to the
//     key before the switch and signed by the target): it still imports,
//     to bring that site back.
//  2. Export (source): the site's database and files are dumped through
//     the Source (the runtime's sitedump engine), cut into parts, and
//     written with move.json and move.sig into one tar stream, which is
//     encrypted to the recipient. move.json is signed with the source's
//     ed25519 key (DATA_DIR/site-signing.key, made on first use, 0600); its
//     fingerprint (Fingerprint, "SHA256:…") is printed for the target's
//     owner to confirm.
//  3. Import (target): the archive is decrypted with the prepared identity
//     (another recipient: ErrWrongRecipient) and read through once before
//     anything changes: every entry's place, the signature over move.json,
//     the fingerprint the owner typed (ErrSourceKey), and the dump's
//     length and sha256, which move.json commits to, so the signature
//     covers every byte. Then the Target checks that it can take the site
//     (every module and theme version is still signed with the archive's
//     digest and not revoked in the registry, the core schema is not newer
//     than the target's), takes a backup when it replaces a site that has
//     data (only with ImportOptions.ReplaceLive), and the archive is read
//     a second time into Target.Replace: staging schemas, every table's
//     rows and checksum compared, one swap (sitedump.Replace). A dry run stops
//     before the swap and returns the same report. Last, Target.Finish
//     puts the site key in place and has every runtime serving the site
//     reload (as a restart would: the data keys, every module restarted on
//     the switched-in records, fetched from the registry and verified as
//     usual, the settings and the theme), and the import retires the
//     prepared key.
//
// # The archive
//
// age(recipient, tar{
//
//	dump/000000 … dump/NNNNNN   the sitedump stream, in parts of at most PartSize
//	move.json                   Move (format FormatMove)
//	move.sig                    ed25519 signature over move.json's bytes
//
// })
//
// Nothing is ever held whole in memory: an export streams with one part
// buffered, an import reads the file twice. The file may arrive in pieces
// (`websonic site fetch` resumes a download with HTTP Range); an import
// that stops half-way (power, ^C) leaves the target as it was, since the
// data switches in one transaction, and running it again starts over.
//
// The site key (the privacy package's data keys) travels inside move.json,
// hence only ever inside the encrypted stream; reports never show it.
//
// # Records
//
// Every export and import is a row of websonic.site_moves (state, step,
// progress, report) and an audit entry (site.export, site.import). An
// import replaces the websonic schema with the source's, so its row and
// audit entry are written again into the imported schema once it serves.
//
// Functions are safe for concurrent use; two imports into one site at once
// are refused by the Target (sitedump.Replace takes a lock).
package sitemove
