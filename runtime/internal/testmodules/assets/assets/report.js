// Shows what ran, once the page has loaded (the image's error included).
window.addEventListener('load', function () {
  setTimeout(function () { document.getElementById('ran').textContent = JSON.stringify(window.ran || []); }, 0);
});
