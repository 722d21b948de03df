package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"
	"testing"
)

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngHeader is a PNG signature and IHDR claiming w×h pixels (colour type
// ct, 8 bits, interlace il), with an empty IDAT and IEND: a decompression
// bomb's header.
func pngHeader(w, h uint32, ct, il byte) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9], ihdr[12] = 8, ct, il
	out := append([]byte(nil), pngMagic...)
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", nil)...)
	return append(out, pngChunk("IEND", nil)...)
}

// fixCRC recomputes the IHDR chunk's CRC of a PNG from pngHeader.
func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// jpegHeader is a JPEG's SOI, JFIF segment and frame header only (marker sof: 0xC0
// baseline, 0xC2 progressive), with ncomp components sampled hv each.
func jpegHeader(sof byte, w, h uint16, ncomp int, hv byte) []byte {
	seg := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(ncomp)}
	for i := range ncomp {
		s := byte(0x11)
		if i == 0 {
			s = hv
		}
		seg = append(seg, byte(i+1), s, 0)
	}
	app0 := []byte{0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	out := append([]byte{0xFF, 0xD8}, app0...)
	out = append(out, 0xFF, sof, 0, byte(len(seg)+2))
	out = append(out, seg...)
	return append(out, 0xFF, 0xD9)
}

// rgbJPEGHeader is a JPEG header without JFIF whose three components are
// named R, G and B (stored as RGB: image/jpeg converts it to RGBA), up to
// an empty scan.
func rgbJPEGHeader(w, h uint16) []byte {
	seg := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3, 'R', 0x11, 0, 'G', 0x11, 0, 'B', 0x11, 0}
	out := []byte{0xFF, 0xD8, 0xFF, 0xC0, 0, byte(len(seg) + 2)}
	out = append(out, seg...)
	return append(out, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9)
}

// photo is a w×h picture with something in it (gradients: JPEG and PNG
// keep it small but not trivial).
func photo(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withOrientation inserts an EXIF APP1 segment with orientation o after
// a JPEG's SOI.
func withOrientation(jpg []byte, o uint16, bo binary.ByteOrder) []byte {
	tiff := make([]byte, 8+2+12+4)
	if bo == binary.LittleEndian {
		copy(tiff, "II*\x00")
	} else {
		copy(tiff, "MM\x00*")
	}
	bo.PutUint32(tiff[4:], 8)
	bo.PutUint16(tiff[8:], 1)
	bo.PutUint16(tiff[10:], 0x0112)
	bo.PutUint16(tiff[12:], 3)
	bo.PutUint32(tiff[14:], 1)
	bo.PutUint16(tiff[18:], o)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	out := append([]byte(nil), jpg[:2]...)
	out = append(out, app1...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func apiStatus(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// TestInspectAvatar: every crafted upload is refused from its header, with
// the status and a sentence that says what is wrong, before a pixel is
// decoded; good ones pass.
func TestInspectAvatar(t *testing.T) {
	var gifData bytes.Buffer
	if err := gif.Encode(&gifData, photo(16, 16), nil); err != nil {
		t.Fatal(err)
	}
	goodJPEG := encodeJPEG(t, photo(300, 200))
	tests := []struct {
		name   string
		data   []byte
		status int    // 0: accepted
		msg    string // in the error
	}{
		{"png", encodePNG(t, photo(300, 200)), 0, ""},
		{"jpeg", goodJPEG, 0, ""},
		{"empty", nil, http.StatusBadRequest, "Choose an image"},
		{"over 1 MiB", append(encodePNG(t, photo(8, 8)), make([]byte, maxAvatarBytes)...), http.StatusRequestEntityTooLarge, "at most 1 MiB"},
		{"png bomb header 100000×100000", pngHeader(100000, 100000, 6, 0), http.StatusBadRequest, "100000×100000 pixels"},
		{"png wider than the cap", pngHeader(maxAvatarSide+1, 10, 2, 0), http.StatusBadRequest, "at most 4096×4096"},
		{"rgba png 4096×4096 (64 MiB decoded)", pngHeader(4096, 4096, 6, 0), http.StatusBadRequest, "too many to process"},
		{"interlaced rgb png 2600×2600", pngHeader(2600, 2600, 2, 1), http.StatusBadRequest, "too many to process"},
		{"rgb png 2600×2600", pngHeader(2600, 2600, 2, 0), 0, ""},
		{"rgb png 2700×2700", pngHeader(2700, 2700, 2, 0), http.StatusBadRequest, "too many to process"},
		{"16-bit interlaced rgba png 1000×1000", func() []byte { b := pngHeader(1000, 1000, 6, 1); b[24] = 16; return fixCRC(b) }(), 0, ""},
		{"gray png 4096×4096", pngHeader(4096, 4096, 0, 0), 0, ""},
		{"baseline jpeg 4096×4096 4:2:0", jpegHeader(0xC0, 4096, 4096, 3, 0x22), 0, ""},
		{"baseline jpeg 4096×4096 4:4:4", jpegHeader(0xC0, 4096, 4096, 3, 0x11), http.StatusBadRequest, "too many to process"},
		{"baseline jpeg 3000×3000 4:4:4", jpegHeader(0xC0, 3000, 3000, 3, 0x11), 0, ""},
		{"progressive jpeg 4096×4096", jpegHeader(0xC2, 4096, 4096, 3, 0x22), http.StatusBadRequest, "too many to process"},
		{"progressive jpeg 2000×2000", jpegHeader(0xC2, 2000, 2000, 3, 0x22), http.StatusBadRequest, "too many to process"},
		{"progressive jpeg 1900×1900", jpegHeader(0xC2, 1900, 1900, 3, 0x22), 0, ""},
		{"progressive cmyk jpeg 1000×1000", jpegHeader(0xC2, 1000, 1000, 4, 0x11), 0, ""},
		{"rgb jpeg 3000×3000", rgbJPEGHeader(3000, 3000), http.StatusBadRequest, "too many to process"},
		{"rgb jpeg 1900×1900", rgbJPEGHeader(1900, 1900), 0, ""},
		{"cmyk jpeg 4096×4096", jpegHeader(0xC0, 4096, 4096, 4, 0x11), http.StatusBadRequest, "too many to process"},
		{"jpeg of 0×0", jpegHeader(0xC0, 0, 0, 3, 0x22), http.StatusBadRequest, "not a valid JPEG"},
		{"gif", gifData.Bytes(), http.StatusBadRequest, "PNG or JPEG"},
		{"text named .png", []byte("hello, I am not a picture\n"), http.StatusBadRequest, "PNG or JPEG"},
		{"html", []byte("<svg onload=alert(1)>"), http.StatusBadRequest, "PNG or JPEG"},
		{"png signature only", pngMagic, http.StatusBadRequest, "not a valid PNG"},
		{"jpeg cut in its header", goodJPEG[:40], http.StatusBadRequest, "not a valid JPEG"},
		{"png with a bad IHDR crc", func() []byte {
			b := pngHeader(10, 10, 6, 0)
			b[29] ^= 0xFF
			return b
		}(), http.StatusBadRequest, "not a valid PNG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inspectAvatar(tt.data)
			if got := apiStatus(err); got != tt.status || (err != nil) != (tt.status != 0) {
				t.Fatalf("status %d (%v), want %d", got, err, tt.status)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// TestProcessAvatar: real pictures come out as 128×128 PNGs of their
// centre square; a picture whose header passes but whose data is cut is
// refused when decoded.
func TestProcessAvatar(t *testing.T) {
	// Left third red, middle green, right third blue: the centre square
	// of a 300×100 picture is green, its sides red and blue.
	bands := image.NewNRGBA(image.Rect(0, 0, 300, 100))
	for y := range 100 {
		for x := range 300 {
			c := color.NRGBA{255, 0, 0, 255}
			if x >= 100 && x < 200 {
				c = color.NRGBA{0, 255, 0, 255}
			} else if x >= 200 {
				c = color.NRGBA{0, 0, 255, 255}
			}
			bands.SetNRGBA(x, y, c)
		}
	}
	translucent := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := range translucent.Pix {
		translucent.Pix[i] = 0x80
	}
	for _, tt := range []struct {
		name string
		data []byte
		want func(t *testing.T, img image.Image)
	}{
		{"png crop", encodePNG(t, bands), func(t *testing.T, img image.Image) {
			r, g, b, _ := img.At(64, 64).RGBA()
			if g>>8 < 250 || r>>8 > 5 || b>>8 > 5 {
				t.Errorf("centre %d %d %d, want green", r>>8, g>>8, b>>8)
			}
		}},
		{"jpeg", encodeJPEG(t, photo(640, 480)), nil},
		{"small png upscaled", encodePNG(t, photo(20, 30)), nil},
		{"alpha kept", encodePNG(t, translucent), func(t *testing.T, img image.Image) {
			if _, _, _, a := img.At(10, 10).RGBA(); a>>8 < 0x70 || a>>8 > 0x90 {
				t.Errorf("alpha %d, want about 0x80", a>>8)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := processAvatar(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if sniffImage(out) != formatPNG {
				t.Fatalf("not a PNG: % x", out[:8])
			}
			img, err := png.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != avatarSize || b.Dy() != avatarSize {
				t.Fatalf("%v, want %d×%d", b, avatarSize, avatarSize)
			}
			if len(out) > 262144 {
				t.Errorf("%d bytes: more than the column takes", len(out))
			}
			if tt.want != nil {
				tt.want(t, img)
			}
		})
	}
	t.Run("truncated jpeg", func(t *testing.T) {
		j := encodeJPEG(t, photo(400, 400))
		_, err := processAvatar(j[:len(j)/2])
		if apiStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "damaged or incomplete") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("truncated png", func(t *testing.T) {
		p := encodePNG(t, photo(400, 400))
		_, err := processAvatar(p[:len(p)/2])
		if apiStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "damaged or incomplete") {
			t.Fatalf("%v", err)
		}
	})
}

// TestAvatarOrientation: a phone's photo stored sideways with EXIF
// orientation 6 comes out upright (both byte orders).
func TestAvatarOrientation(t *testing.T) {
	// Stored: left half red, right half blue. Orientation 6 turns it a
	// quarter clockwise: red on top, blue below.
	img := image.NewNRGBA(image.Rect(0, 0, 200, 200))
	for y := range 200 {
		for x := range 200 {
			c := color.NRGBA{255, 0, 0, 255}
			if x >= 100 {
				c = color.NRGBA{0, 0, 255, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		data := withOrientation(encodeJPEG(t, img), 6, bo)
		if o := jpegOrientation(data); o != 6 {
			t.Fatalf("%v: orientation %d", bo, o)
		}
		out, err := processAvatar(data)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := png.Decode(bytes.NewReader(out))
		top, _, _, _ := got.At(64, 10).RGBA()
		_, _, bottom, _ := got.At(64, 118).RGBA()
		if top>>8 < 200 || bottom>>8 < 200 {
			t.Errorf("%v: top red %d, bottom blue %d: not turned", bo, top>>8, bottom>>8)
		}
	}
}

// TestOrient: each EXIF orientation maps the corners where it says.
func TestOrient(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 2, 2))
	// a b
	// c d
	marks := map[image.Point]uint8{{0, 0}: 'a', {1, 0}: 'b', {0, 1}: 'c', {1, 1}: 'd'}
	for p, m := range marks {
		src.Pix[src.PixOffset(p.X, p.Y)] = m
	}
	want := map[int]string{1: "abcd", 2: "badc", 3: "dcba", 4: "cdab", 5: "acbd", 6: "cadb", 7: "dbca", 8: "bdac", 9: "abcd"}
	for o, w := range want {
		dst := orient(src, o)
		got := string([]byte{dst.Pix[dst.PixOffset(0, 0)], dst.Pix[dst.PixOffset(1, 0)], dst.Pix[dst.PixOffset(0, 1)], dst.Pix[dst.PixOffset(1, 1)]})
		if got != w {
			t.Errorf("orientation %d: %s, want %s", o, got, w)
		}
	}
}

// FuzzInspectAvatar: no upload makes the header checks panic, and what
// they accept is within the budget.
func FuzzInspectAvatar(f *testing.F) {
	f.Add(pngHeader(10, 10, 6, 0))
	f.Add(pngHeader(100000, 100000, 6, 1))
	f.Add(jpegHeader(0xC2, 4096, 4096, 3, 0x22))
	f.Add(withOrientation(jpegHeader(0xC0, 16, 16, 3, 0x22), 8, binary.BigEndian))
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := inspectAvatar(data)
		if err == nil && (h.cost > avatarWorkBudget || h.width > maxAvatarSide || h.height > maxAvatarSide || h.orientation < 1 || h.orientation > 8) {
			t.Fatalf("accepted %+v", h)
		}
		readJPEGFrame(data)
		jpegOrientation(data)
		exifOrientation(data)
	})
}

// TestBoxShrink: the YCbCr fast path agrees with averaging each pixel
// read through color.Color (within rounding) for every subsampling ratio, on pictures
// whose bounds do not start at zero, with whole factors odd and even; the
// NRGBA path premultiplies.
func TestBoxShrink(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	for _, ratio := range ratios {
		for _, f := range []int{2, 3, 5} {
			// A photo's smooth colours (converted from RGB, so within
			// gamut; at sharp, saturated edges a subsampled chroma with
			// each pixel's luma leaves the gamut, and averaging before
			// converting differs there by what the conversion clamps).
			src := image.NewYCbCr(image.Rect(3, 5, 103, 105), ratio)
			for y := 5; y < 105; y++ {
				for x := 3; x < 103; x++ {
					yy, cb, cr := color.RGBToYCbCr(uint8(2*x), uint8(200-y), uint8(x+y))
					src.Y[src.YOffset(x, y)] = yy
					ci := src.COffset(x, y)
					src.Cb[ci], src.Cr[ci] = cb, cr // the last pixel of a shared sample wins
				}
			}
			sr := image.Rect(3, 5, 103, 105)
			got := boxShrink(src, sr, f)
			n := 100 / f
			if got.Bounds() != image.Rect(0, 0, n, n) {
				t.Fatalf("%v f=%d: bounds %v", ratio, f, got.Bounds())
			}
			for oy := range n {
				for ox := range n {
					var sum [3]int
					for dy := range f {
						for dx := range f {
							r, g, b, _ := src.At(3+ox*f+dx, 5+oy*f+dy).RGBA()
							sum[0], sum[1], sum[2] = sum[0]+int(r>>8), sum[1]+int(g>>8), sum[2]+int(b>>8)
						}
					}
					c := got.RGBAAt(ox, oy)
					for k, v := range []uint8{c.R, c.G, c.B} {
						if want := (sum[k] + f*f/2) / (f * f); int(v) < want-2 || int(v) > want+2 {
							t.Fatalf("%v f=%d (%d,%d) channel %d: %d, want %d", ratio, f, ox, oy, k, v, want)
						}
					}
					if c.A != 0xFF {
						t.Fatalf("alpha %d", c.A)
					}
				}
			}
		}
	}
	// Half-transparent red next to opaque blue: the mean is premultiplied.
	nrgba := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	for y := range 2 {
		nrgba.SetNRGBA(0, y, color.NRGBA{255, 0, 0, 128})
		nrgba.SetNRGBA(1, y, color.NRGBA{0, 0, 255, 255})
	}
	if c := boxShrink(nrgba, nrgba.Bounds(), 2).RGBAAt(0, 0); c.R != 64 || c.B != 128 || c.A != 192 {
		t.Fatalf("premultiplied mean: %+v", c)
	}
}
