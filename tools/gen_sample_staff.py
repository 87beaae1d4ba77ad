"""Generate a sample directory import file: organisations and staff with realistic
Vietnamese (and Khmer, as in Sóc Trăng) names, in the template of congthu.directory.importer.

    .venv/bin/python tools/gen_sample_staff.py OUT.csv|OUT.xlsx [--orgs 100] [--staff 2000]
        [--broken 10] [--seed 1]

``--broken N`` damages N staff rows in N different ways (missing name, unknown
organisation, duplicate staff code, bad rank, bad date, a name without letters, an invalid
or reserved address, a bad row type, missing organisation); the line numbers are printed
on stderr so a test can compare them with the import's report.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

from congthu.directory.importer import COLUMNS
from congthu.directory.naming import NamingError, org_local

# Family names roughly by frequency; Khmer family names common in Sóc Trăng at the end.
FAMILY = (["Nguyễn"] * 30 + ["Trần"] * 11 + ["Lê"] * 9 + ["Phạm"] * 7 + ["Huỳnh"] * 5 + ["Võ"] * 4
          + ["Phan", "Trương", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đoàn", "Đinh",
             "Lâm", "Châu", "Tô", "Quách", "Mai", "Lưu", "Tạ", "Văn", "Hà", "Âu Dương", "Tôn Nữ"] * 2
          + ["Thạch", "Sơn", "Danh", "Kim", "Triệu", "Lý", "Thạch", "Sơn"])
MIDDLE_M = ["Văn", "Thanh", "Minh", "Quốc", "Hữu", "Đức", "Hoàng", "Công", "Ngọc", "Tấn", "Thành", "Quang",
            "Trung", "Việt", "Xuân", ""]
MIDDLE_F = ["Thị", "Thị", "Thị", "Ngọc", "Thanh", "Thu", "Kim", "Mỹ", "Bích", "Hồng", "Diễm", "Thùy", "Phương", ""]
GIVEN_M = ["Bình", "An", "Hùng", "Dũng", "Tuấn", "Nam", "Long", "Hải", "Hiếu", "Khoa", "Đạt", "Phúc", "Thông",
           "Trí", "Nghĩa", "Sơn", "Tâm", "Hòa", "Lực", "Quý", "Cường", "Đông", "Thắng", "Toàn", "Vũ", "Kiệt",
           "Sô Phia", "Sa Rinh", "Đa Ra"]
GIVEN_F = ["Hoa", "Lan", "Hương", "Phương", "Thảo", "Trang", "Ngân", "Nhung", "Hạnh", "Hoà", "Mai", "Linh",
           "Yến", "Oanh", "Uyên", "Ưng", "Ơn", "Thư", "Vy", "Diệp", "Quyên", "Sà Rết", "Ly Na"]
TITLES = [(1, "Giám đốc"), (2, "Phó Giám đốc"), (3, "Trưởng phòng"), (4, "Phó Trưởng phòng")]
STAFF_TITLES = ["Chuyên viên", "Chuyên viên chính", "Cán sự", "Kế toán", "Văn thư", "Nhân viên"]

DEPARTMENTS = [
    "Sở Thông tin và Truyền thông", "Sở Nội vụ", "Sở Tài chính", "Sở Kế hoạch và Đầu tư", "Sở Tư pháp",
    "Sở Xây dựng", "Sở Giao thông vận tải", "Sở Y tế", "Sở Giáo dục và Đào tạo", "Sở Công Thương",
    "Sở Tài nguyên và Môi trường", "Sở Nông nghiệp và Phát triển nông thôn", "Sở Khoa học và Công nghệ",
    "Sở Văn hóa, Thể thao và Du lịch", "Sở Lao động - Thương binh và Xã hội", "Ban Dân tộc",
    "Thanh tra tỉnh", "Văn phòng UBND tỉnh", "Ban Quản lý các Khu công nghiệp", "Đài Phát thanh và Truyền hình",
]
DISTRICTS = [
    "Thành phố Sóc Trăng", "Thị xã Vĩnh Châu", "Thị xã Ngã Năm", "UBND huyện Mỹ Xuyên", "UBND huyện Mỹ Tú",
    "UBND huyện Long Phú", "UBND huyện Kế Sách", "UBND huyện Châu Thành", "UBND huyện Thạnh Trị",
    "UBND huyện Trần Đề", "UBND huyện Cù Lao Dung",
]
UNITS = ["Văn phòng", "Phòng Tổ chức cán bộ", "Phòng Kế hoạch tài chính", "Phòng Công nghệ thông tin",
         "Phòng Văn hóa Thông tin", "Phòng Nội vụ", "Phòng Tư pháp", "Phòng Tài chính Kế hoạch",
         "Chi cục Thủy sản", "Chi cục Kiểm lâm", "Trung tâm Dịch vụ hành chính công", "Phòng Quản lý đô thị",
         "Phòng Giáo dục và Đào tạo", "Phòng Y tế", "Phòng Lao động Thương binh và Xã hội"]
SYLLABLES = ["Thạnh", "Phú", "Hòa", "Tân", "Long", "An", "Mỹ", "Phước", "Đại", "Hưng", "Lợi", "Thới", "Vĩnh",
             "Khánh", "Gia", "Hiệp", "Trung", "Bình", "Lạc", "Hải", "Đông", "Tây", "Nam", "Bắc", "Xuân", "Kế",
             "Châu", "Lịch", "Hội", "Ngọc", "Tố", "Viên", "Quới", "Thuận", "Lai", "Ba", "Trinh", "Sóc", "Ô"]


def make_orgs(rng: random.Random, count: int) -> list[dict[str, str]]:
    """About a fifth departments and districts, the rest their units and communes."""
    orgs: list[dict[str, str]] = []
    used: set[str] = set()

    def add(name: str, parent: dict[str, str] | None) -> dict[str, str] | None:
        try:
            local = org_local(name, parent=parent["local"] if parent else None)
        except NamingError:
            return None
        if local in used:
            return None
        used.add(local)
        code = f"TC{len(orgs) + 1:04d}"
        row = {"kind": "Tổ chức", "code": code, "name": name, "parent": parent["code"] if parent else "",
               "local": local}
        orgs.append(row)
        return row

    tops = DEPARTMENTS + DISTRICTS
    n_top = max(1, min(len(tops), count // 5))
    extra = 0
    while n_top > len(tops) + extra:
        extra += 1
    top_rows = []
    for name in tops[:n_top]:
        row = add(name, None)
        if row:
            top_rows.append(row)
    while len(top_rows) < max(1, count // 5):  # the bench: many more top-level organisations
        name = f"Sở {rng.choice(SYLLABLES)} {rng.choice(SYLLABLES)} {rng.choice(SYLLABLES)} {rng.choice(SYLLABLES)}"
        row = add(name, None)
        if row:
            top_rows.append(row)
    attempts = 0
    while len(orgs) < count and attempts < count * 50:
        attempts += 1
        parent = rng.choice(top_rows)
        if parent["name"] in DISTRICTS and rng.random() < 0.6:
            kind = rng.choice(["Xã", "Xã", "Phường", "Thị trấn"])
            words = rng.sample(SYLLABLES, rng.choice([2, 2, 3]))
            name = f"{kind} {' '.join(words)}"
        else:
            name = rng.choice(UNITS)
            if attempts > count * 5:
                name += " " + " ".join(rng.sample(SYLLABLES, 2))
        add(name, parent)
    return orgs


def make_person(rng: random.Random) -> str:
    female = rng.random() < 0.5
    family = rng.choice(FAMILY)
    middle = rng.choice(MIDDLE_F if female else MIDDLE_M)
    if rng.random() < 0.15:
        middle = (middle + " " + rng.choice(MIDDLE_F if female else MIDDLE_M)).strip()
    given = rng.choice(GIVEN_F if female else GIVEN_M)
    return " ".join(p for p in (family, middle, given) if p)


def generate(orgs: int, staff: int, seed: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    org_rows = make_orgs(rng, orgs)
    rows: list[dict[str, str]] = [{k: v for k, v in o.items() if k != "local"} for o in org_rows]
    per_org = [staff // len(org_rows)] * len(org_rows)
    for i in range(staff - sum(per_org)):
        per_org[i % len(org_rows)] += 1
    n = 0
    for org, count in zip(org_rows, per_org, strict=True):
        for j in range(count):
            n += 1
            rank, title = TITLES[j] if j < len(TITLES) else (0, rng.choice(STAFF_TITLES))
            rows.append({
                "kind": "Cán bộ", "code": f"CB{n:06d}", "name": make_person(rng), "parent": org["code"],
                "title": title, "rank": str(rank) if rank else "",
                "registered": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2010, 2025)}",
                "leader": "x" if j == 0 else "",
            })
    return rows


BREAKAGES = [
    ("name", ""),  # missing name
    ("parent", "KHONGCO"),  # unknown organisation
    ("code", "DUPLICATE"),  # duplicate staff code (of an earlier row)
    ("rank", "trưởng"),  # rank not a number
    ("registered", "31/02/2020"),  # impossible date
    ("name", "123 456"),  # a name without letters: no address
    ("address", "địa chỉ sai!"),  # invalid override address
    ("address", "postmaster"),  # reserved address
    ("kind", "Khác"),  # unknown row type
    ("parent", ""),  # no organisation
]


def break_rows(rows: list[dict[str, str]], count: int, seed: int = 2) -> list[int]:
    """Damage ``count`` staff rows in place; returns their line numbers (header = line 1)."""
    rng = random.Random(seed)
    people = [i for i, r in enumerate(rows) if r["kind"] == "Cán bộ"]
    chosen = sorted(rng.sample(people[len(people) // 10:], count))
    for n, index in enumerate(chosen):
        key, value = BREAKAGES[n % len(BREAKAGES)]
        if value == "DUPLICATE":
            earlier = next(i for i in people if i < index and i not in chosen)
            value = rows[earlier]["code"]
        rows[index][key] = value
    return [i + 2 for i in chosen]


def write(rows: list[dict[str, str]], out: Path) -> None:
    headers = [h for _, h, _ in COLUMNS]
    keys = [k for k, _, _ in COLUMNS]
    if out.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Danh bạ")
        sheet.append(headers)
        for row in rows:
            sheet.append([row.get(k, "") for k in keys])
        workbook.save(out)
    else:
        with out.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(headers)
            for row in rows:
                writer.writerow([row.get(k, "") for k in keys])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("out", type=Path)
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--staff", type=int, default=2000)
    parser.add_argument("--broken", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rows = generate(args.orgs, args.staff, args.seed)
    broken = break_rows(rows, args.broken) if args.broken else []
    write(rows, args.out)
    orgs = sum(1 for r in rows if r["kind"] == "Tổ chức")
    print(f"{args.out}: {orgs} tổ chức, {len(rows) - orgs} cán bộ", file=sys.stderr)
    if broken:
        print("dòng hỏng / broken lines: " + " ".join(map(str, broken)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
