// Runs only from this module version's signed assets.
(window.ran = window.ran || []).push('asset:' + document.currentScript.src);
try { eval('1'); window.ran.push('eval'); } catch (e) { /* 'unsafe-eval' is not granted */ }
