/** Renders a scene (scene.ts) as a standalone SVG 1.1 document: plain strings, no browser. */
import type { Scene, Shape } from "./scene.js";

/** Escapes text for XML character data and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
}

const n = (x: number): string => String(Math.round(x * 100) / 100);

function shapeToSvg(s: Shape): string {
  switch (s.kind) {
    case "rect": {
      const tip = s.title ? `<title>${escapeXml(s.title)}</title>` : "";
      return `<rect x="${n(s.x)}" y="${n(s.y)}" width="${n(s.w)}" height="${n(s.h)}" fill="${s.fill}">${tip}</rect>`;
    }
    case "line":
      return `<line x1="${n(s.x1)}" y1="${n(s.y1)}" x2="${n(s.x2)}" y2="${n(s.y2)}" stroke="${s.stroke}" stroke-width="${n(s.width)}"${s.dash ? ' stroke-dasharray="4 3"' : ""}/>`;
    case "text": {
      const rotate = s.vertical ? ` transform="rotate(-90 ${n(s.x)} ${n(s.y)})"` : "";
      const weight = s.bold ? ' font-weight="bold"' : "";
      return `<text x="${n(s.x)}" y="${n(s.y)}" font-size="${s.size}" fill="${s.fill}" text-anchor="${s.anchor}"${weight}${rotate}>${escapeXml(s.text)}</text>`;
    }
  }
}

export function sceneToSvg(scene: Scene): string {
  const body = scene.shapes.map(shapeToSvg).join("\n  ");
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" viewBox="0 0 ${scene.width} ${scene.height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
  <title>${escapeXml(scene.title)}</title>
  <rect x="0" y="0" width="${scene.width}" height="${scene.height}" fill="${scene.background}"/>
  ${body}
</svg>
`;
}
