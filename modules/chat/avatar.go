package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"

	"golang.org/x/image/draw"
)

// Avatars (API.md, "Presence and profiles"): a PNG or JPEG upload, checked
// from its content (never the client's type), sized from its header before
// a pixel is decoded, decoded, cropped to its centre square, resized to
// avatarSize×avatarSize and stored as a PNG. RATIONALE.md, "Why
// golang.org/x/image for avatars", says why the resize is x/image/draw's.
const (
	// avatarSize is the side of a stored avatar, in pixels.
	avatarSize = 128
	// maxAvatarBytes bounds an upload (the runtime refuses any request
	// body over 1 MiB before the module sees it).
	maxAvatarBytes = 1 << 20
	// maxAvatarSide bounds each side of an upload, in pixels.
	maxAvatarSide = 4096
	// avatarWorkBudget bounds the memory decoding and resizing an upload
	// takes (the decoded pixels, a progressive JPEG's coefficients, an
	// interlaced PNG's passes, the resize's buffers), estimated from the
	// image's header before anything is decoded. A module instance has
	// 64 MiB of memory in the runtime's tests and 128 MiB by default, and
	// a call may start on an instance that already holds up to 32 MiB (the
	// pool recycles instances past that), whose free memory a large
	// picture cannot reuse: measured, a 4096×4096 photo fits a fresh
	// instance of 40 MiB but needs 56 MiB after one that holds 25 MiB.
	// 28 MiB keeps the worst case within 64 MiB (32 + 28 + a few MiB of
	// request and runtime) and still takes a 4096×4096 photo as cameras
	// and phones save it (baseline JPEG, 4:2:0), a JPEG of about
	// 3000×3000 in 4:4:4 or 1900×1900 progressive, a PNG of about
	// 2600×2600 in RGBA, and a grey PNG of 4096×4096. API.md says so.
	avatarWorkBudget = 28 << 20
)

// Image formats an avatar may be in.
const (
	formatPNG  = "png"
	formatJPEG = "jpeg"
)

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
)

// sniffImage names the format of data from its first bytes ("" for
// neither PNG nor JPEG).
func sniffImage(data []byte) string {
	switch {
	case bytes.HasPrefix(data, pngMagic):
		return formatPNG
	case bytes.HasPrefix(data, jpegMagic):
		return formatJPEG
	}
	return ""
}

// avatarHeader is what an upload's header says, before any pixel is
// decoded.
type avatarHeader struct {
	format      string
	width       int
	height      int
	cost        int64 // bytes decoding and resizing it takes (estimated)
	orientation int   // EXIF orientation of a JPEG (1: as stored)
}

// inspectAvatar checks an upload's size, type and header: what it answers
// is safe to decode within avatarWorkBudget.
func inspectAvatar(data []byte) (avatarHeader, error) {
	if len(data) == 0 {
		return avatarHeader{}, badRequest("Choose an image for your avatar.")
	}
	if len(data) > maxAvatarBytes {
		return avatarHeader{}, tooLarge(fmt.Sprintf("The image is %s: an avatar is at most 1 MiB.", byteSize(int64(len(data)))))
	}
	h := avatarHeader{format: sniffImage(data), orientation: 1}
	var (
		cfg image.Config
		err error
	)
	switch h.format {
	case formatPNG:
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	case formatJPEG:
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	default:
		return h, badRequest("An avatar is a PNG or JPEG image; this file is neither.")
	}
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return h, badRequest(fmt.Sprintf("This file is not a valid %s image.", formatName(h.format)))
	}
	h.width, h.height = cfg.Width, cfg.Height
	if h.width > maxAvatarSide || h.height > maxAvatarSide {
		return h, badRequest(fmt.Sprintf("The image is %d×%d pixels: an avatar is at most %d×%d. Save it smaller and try again.",
			h.width, h.height, maxAvatarSide, maxAvatarSide))
	}
	switch h.format {
	case formatPNG:
		h.cost, err = pngCost(data, cfg)
	case formatJPEG:
		var fr jpegFrame
		if fr, err = readJPEGFrame(data); err == nil {
			h.cost = fr.cost(h.width, h.height)
			h.orientation = jpegOrientation(data)
		}
	}
	if err != nil {
		return h, badRequest(fmt.Sprintf("This file is not a valid %s image.", formatName(h.format)))
	}
	h.cost += resizeCost(h.width, h.height)
	if h.cost > avatarWorkBudget {
		return h, badRequest(fmt.Sprintf("The image is %d×%d pixels, too many to process in this format: save it smaller (1000×1000 is plenty for an avatar) and try again.",
			h.width, h.height))
	}
	return h, nil
}

// processAvatar turns an upload into the stored avatar: a PNG of
// avatarSize×avatarSize pixels. Its errors are *apiError: the person is
// told what is wrong with the file.
func processAvatar(data []byte) ([]byte, error) {
	h, err := inspectAvatar(data)
	if err != nil {
		return nil, err
	}
	// What earlier requests left is collected before the big allocation:
	// the instance's memory stays within what the budget counted.
	runtime.GC()
	var img image.Image
	switch h.format {
	case formatPNG:
		img, err = png.Decode(bytes.NewReader(data))
	case formatJPEG:
		img, err = jpeg.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, badRequest(fmt.Sprintf("This %s image is damaged or incomplete: it could not be read.", formatName(h.format)))
	}
	thumb := orient(squareThumb(img, avatarSize), h.orientation)
	img = nil
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, thumb); err != nil {
		return nil, fmt.Errorf("avatar: encode: %w", err)
	}
	runtime.GC()
	return out.Bytes(), nil
}

// squareThumb crops img to its centre square and resizes it to side×side:
// a picture more than twice as large is first shrunk by a whole factor,
// each pixel the mean of a block (boxShrink: fast, and it leaves nothing
// to alias), then resampled with Catmull-Rom (sharp, where bilinear
// sampling would alias).
func squareThumb(img image.Image, side int) *image.RGBA {
	b := img.Bounds()
	s := min(b.Dx(), b.Dy())
	x0 := b.Min.X + (b.Dx()-s)/2
	y0 := b.Min.Y + (b.Dy()-s)/2
	sr := image.Rect(x0, y0, x0+s, y0+s)
	if f := s / (2 * side); f >= 2 {
		small := boxShrink(img, sr, f)
		img, sr = small, small.Bounds()
	}
	dst := image.NewRGBA(image.Rect(0, 0, side, side))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, sr, draw.Src, nil)
	return dst
}

// shrinkFactor is the whole factor squareThumb shrinks a square of side s
// by first (1: none).
func shrinkFactor(s int) int { return max(1, s/(2*avatarSize)) }

// resizeCost is the memory squareThumb takes for a w×h picture: the
// shrunk square (RGBA) and x/image/draw's scratch (a row of four float64
// per output column for every input row).
func resizeCost(w, h int) int64 {
	s := int64(min(w, h))
	f := int64(shrinkFactor(int(s)))
	if f >= 2 {
		s /= f
		return s*s*4 + int64(avatarSize)*s*32 + int64(min(w, h))*4
	}
	return int64(avatarSize) * s * 32
}

// boxShrink makes an RGBA picture (premultiplied) of the square sr of img
// shrunk f times: each pixel is the mean of an f×f block. Pixels past the
// last whole block are left out.
func boxShrink(img image.Image, sr image.Rectangle, f int) *image.RGBA {
	if ycc, ok := img.(*image.YCbCr); ok {
		if cxs, cys, ok := chromaShifts(ycc.SubsampleRatio); ok {
			return boxShrinkYCbCr(ycc, sr, f, cxs, cys)
		}
	}
	n := sr.Dx() / f
	dst := image.NewRGBA(image.Rect(0, 0, n, n))
	sums := make([]uint32, 4*n)
	row := make([]uint8, 4*n*f)
	area := uint32(f * f)
	for oy := range n {
		clear(sums)
		for dy := range f {
			loadRow(img, sr.Min.X, sr.Min.Y+oy*f+dy, row)
			for ox := range n {
				s := sums[4*ox : 4*ox+4]
				p := row[4*ox*f : 4*(ox+1)*f]
				for len(p) >= 4 {
					s[0] += uint32(p[0])
					s[1] += uint32(p[1])
					s[2] += uint32(p[2])
					s[3] += uint32(p[3])
					p = p[4:]
				}
			}
		}
		out := dst.Pix[oy*dst.Stride : oy*dst.Stride+4*n]
		for i, v := range sums {
			out[i] = uint8((v + area/2) / area)
		}
	}
	return dst
}

// chromaShifts are the shifts from luma to chroma coordinates of a
// subsampling ratio.
func chromaShifts(r image.YCbCrSubsampleRatio) (cxs, cys uint, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 0, 0, true
	case image.YCbCrSubsampleRatio422:
		return 1, 0, true
	case image.YCbCrSubsampleRatio420:
		return 1, 1, true
	case image.YCbCrSubsampleRatio440:
		return 0, 1, true
	case image.YCbCrSubsampleRatio411:
		return 2, 0, true
	case image.YCbCrSubsampleRatio410:
		return 2, 1, true
	}
	return 0, 0, false
}

// boxShrinkYCbCr is boxShrink for a JPEG's picture, reading its planes
// directly (not through color.Color and YCbCr.At, which would allocate
// per pixel): sixteen million pixels in about a tenth of a second.
func boxShrinkYCbCr(src *image.YCbCr, sr image.Rectangle, f int, cxs, cys uint) *image.RGBA {
	n := sr.Dx() / f
	dst := image.NewRGBA(image.Rect(0, 0, n, n))
	sums := make([]uint32, 3*n)
	area := uint32(f * f)
	minX, minY := src.Rect.Min.X, src.Rect.Min.Y
	for oy := range n {
		clear(sums)
		for dy := range f {
			y := sr.Min.Y + oy*f + dy
			yrow := src.Y[(y-minY)*src.YStride:]
			crow := (y>>cys - minY>>cys) * src.CStride // as YCbCr.COffset (coordinates are never negative)
			cb, cr := src.Cb[crow:], src.Cr[crow:]
			x := sr.Min.X
			for ox := range n {
				s := sums[3*ox : 3*ox+3]
				for range f {
					ci := x>>cxs - minX>>cxs
					r, g, b := color.YCbCrToRGB(yrow[x-minX], cb[ci], cr[ci])
					s[0] += uint32(r)
					s[1] += uint32(g)
					s[2] += uint32(b)
					x++
				}
			}
		}
		out := dst.Pix[oy*dst.Stride : oy*dst.Stride+4*n]
		for ox := range n {
			s := sums[3*ox : 3*ox+3]
			out[4*ox] = uint8((s[0] + area/2) / area)
			out[4*ox+1] = uint8((s[1] + area/2) / area)
			out[4*ox+2] = uint8((s[2] + area/2) / area)
			out[4*ox+3] = 0xFF
		}
	}
	return dst
}

// loadRow reads len(row)/4 pixels of img's row y from x0 into row, as
// premultiplied 8-bit RGBA; the formats image/png and image/jpeg decode
// to most are read without going through color.Color.
func loadRow(img image.Image, x0, y int, row []uint8) {
	w := len(row) / 4
	switch src := img.(type) {
	case *image.YCbCr:
		for i := range w {
			yi, ci := src.YOffset(x0+i, y), src.COffset(x0+i, y)
			r, g, b := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
			row[4*i], row[4*i+1], row[4*i+2], row[4*i+3] = r, g, b, 0xFF
		}
	case *image.RGBA:
		copy(row, src.Pix[src.PixOffset(x0, y):])
	case *image.NRGBA:
		p := src.Pix[src.PixOffset(x0, y):]
		for i := range w {
			a := uint32(p[4*i+3])
			row[4*i] = uint8(uint32(p[4*i]) * a / 0xFF)
			row[4*i+1] = uint8(uint32(p[4*i+1]) * a / 0xFF)
			row[4*i+2] = uint8(uint32(p[4*i+2]) * a / 0xFF)
			row[4*i+3] = uint8(a)
		}
	case *image.Gray:
		p := src.Pix[src.PixOffset(x0, y):]
		for i := range w {
			row[4*i], row[4*i+1], row[4*i+2], row[4*i+3] = p[i], p[i], p[i], 0xFF
		}
	case image.RGBA64Image:
		for i := range w {
			c := src.RGBA64At(x0+i, y)
			row[4*i], row[4*i+1], row[4*i+2], row[4*i+3] = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8), uint8(c.A>>8)
		}
	default:
		for i := range w {
			r, g, b, a := src.At(x0+i, y).RGBA()
			row[4*i], row[4*i+1], row[4*i+2], row[4*i+3] = uint8(r>>8), uint8(g>>8), uint8(b>>8), uint8(a>>8)
		}
	}
}

// pngCost estimates the memory png.Decode takes for data: the pixels in
// the decoder's colour model, twice for an interlaced image (each pass is
// decoded on its own, then merged).
func pngCost(data []byte, cfg image.Config) (int64, error) {
	var bpp int64
	switch cfg.ColorModel {
	case color.GrayModel:
		bpp = 1
	case color.Gray16Model:
		bpp = 2
	case color.RGBAModel, color.NRGBAModel:
		bpp = 4
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	default:
		if _, ok := cfg.ColorModel.(color.Palette); !ok {
			return 0, errors.New("png: unknown colour model")
		}
		bpp = 1
	}
	cost := int64(cfg.Width) * int64(cfg.Height) * bpp
	// IHDR is the first chunk (png.DecodeConfig checked it): its last
	// byte says whether the image is interlaced.
	if len(data) > 28 && data[28] == 1 {
		cost *= 2
	}
	return cost, nil
}

// jpegFrame is what a JPEG's header says of its memory: its frame (SOF)
// and whether image/jpeg turns it into RGBA after decoding.
type jpegFrame struct {
	progressive bool
	// samples are each component's sampling factors (h, v).
	samples [][2]int
	// rgb: three components stored as RGB (named R, G, B, or an Adobe
	// segment saying so, without JFIF), which image/jpeg converts to RGBA.
	rgb bool
}

// readJPEGFrame walks a JPEG's segments up to its first scan, reading its
// frame header (jpeg.DecodeConfig does not say whether the image is
// progressive or stored as RGB, which multiply the memory decoding takes).
func readJPEGFrame(data []byte) (jpegFrame, error) {
	var (
		fr             jpegFrame
		found, jfif    bool
		adobeValid     bool
		adobeTransform byte
		ids            []byte
	)
	done := func() (jpegFrame, error) {
		if !found {
			return fr, errors.New("jpeg: no frame header")
		}
		fr.rgb = len(ids) == 3 && !jfif && ((adobeValid && adobeTransform == 0) || string(ids) == "RGB")
		return fr, nil
	}
	i := 2 // after SOI
	for {
		for i+1 < len(data) && data[i] == 0xFF && data[i+1] == 0xFF {
			i++ // fill bytes
		}
		if i+4 > len(data) || data[i] != 0xFF {
			return done() // cut after the frame header: DecodeConfig judged it
		}
		m := data[i+1]
		if m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) { // markers without a segment
			i += 2
			continue
		}
		if m == 0xDA || m == 0xD9 { // the first scan, or the end
			return done()
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return done()
		}
		seg := data[i+4 : i+2+n]
		switch {
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC: // SOFn
			if found {
				return fr, errors.New("jpeg: two frame headers")
			}
			if len(seg) < 6 {
				return fr, errors.New("jpeg: short frame header")
			}
			nc := int(seg[5])
			if nc < 1 || len(seg) < 6+3*nc {
				return fr, errors.New("jpeg: bad frame header")
			}
			fr.progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE
			for k := range nc {
				hv := seg[6+3*k+1]
				h, v := int(hv>>4), int(hv&0x0F)
				if h < 1 || h > 4 || v < 1 || v > 4 {
					return fr, errors.New("jpeg: bad sampling factors")
				}
				fr.samples = append(fr.samples, [2]int{h, v})
				ids = append(ids, seg[6+3*k])
			}
			found = true
		case m == 0xE0 && bytes.HasPrefix(seg, []byte("JFIF\x00")):
			jfif = true
		case m == 0xEE && len(seg) >= 12 && bytes.HasPrefix(seg, []byte("Adobe")):
			adobeValid, adobeTransform = true, seg[11]
		}
		i += 2 + n
	}
}

// cost estimates the memory image/jpeg takes to decode a w×h picture of
// this frame: one byte per sample of each component (rounded up to whole
// 8×8 blocks of whole MCUs), four more per sample for a progressive image's
// coefficients, and four bytes a pixel for the RGBA or CMYK picture that
// RGB and four-component images become.
func (fr jpegFrame) cost(w, h int) int64 {
	hmax, vmax := 1, 1
	for _, s := range fr.samples {
		hmax, vmax = max(hmax, s[0]), max(vmax, s[1])
	}
	mcuW, mcuH := 8*hmax, 8*vmax
	mx := int64((w + mcuW - 1) / mcuW)
	my := int64((h + mcuH - 1) / mcuH)
	var samples int64
	for _, s := range fr.samples {
		samples += mx * int64(s[0]) * 8 * my * int64(s[1]) * 8
	}
	cost := samples
	if fr.progressive {
		cost += 4 * samples
	}
	if len(fr.samples) == 4 || fr.rgb {
		cost += 4 * int64(w) * int64(h)
	}
	return cost
}

// jpegOrientation reads the EXIF orientation (1 to 8) of a JPEG, 1 when it
// has none or it cannot be read: phones store photos as the sensor saw
// them and say in EXIF how to turn them.
func jpegOrientation(data []byte) int {
	i := 2
	for i+4 <= len(data) && data[i] == 0xFF {
		m := data[i+1]
		if m == 0xDA || m == 0xD9 || (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
			return 1 // EXIF comes before the frame
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		if seg := data[i+4 : i+2+n]; m == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return exifOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// exifOrientation reads tag 0x0112 of a TIFF structure's first IFD.
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(tiff[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int64(bo.Uint32(tiff[4:]))
	if off < 8 || off+2 > int64(len(tiff)) {
		return 1
	}
	n := int64(bo.Uint16(tiff[off:]))
	for k := range n {
		e := off + 2 + 12*k
		if e+12 > int64(len(tiff)) {
			return 1
		}
		if bo.Uint16(tiff[e:]) != 0x0112 {
			continue
		}
		if bo.Uint16(tiff[e+2:]) != 3 { // SHORT
			return 1
		}
		if v := int(bo.Uint16(tiff[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// orient turns a square picture as its EXIF orientation says (2: mirrored,
// 3: upside down, 4: flipped, 5 to 8: turned a quarter, some mirrored).
func orient(src *image.RGBA, o int) *image.RGBA {
	if o <= 1 || o > 8 {
		return src
	}
	n := src.Bounds().Dx() // square
	dst := image.NewRGBA(src.Bounds())
	for y := range n {
		for x := range n {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = n-1-x, y
			case 3:
				sx, sy = n-1-x, n-1-y
			case 4:
				sx, sy = x, n-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, n-1-x
			case 7:
				sx, sy = n-1-y, n-1-x
			case 8:
				sx, sy = n-1-y, x
			}
			copy(dst.Pix[dst.PixOffset(x, y):][:4], src.Pix[src.PixOffset(sx, sy):][:4])
		}
	}
	return dst
}

func formatName(f string) string {
	if f == formatJPEG {
		return "JPEG"
	}
	return "PNG"
}

// byteSize says n in KiB or MiB.
func byteSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1023)/1024)
}
